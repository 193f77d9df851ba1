"""The modeldeploy optimizer: compress, export, validate and benchmark a model.

Only :mod:`modeldeploy_optimizer.spec`, :mod:`modeldeploy_optimizer.report` and
:mod:`modeldeploy_optimizer.apimodel` may be imported by the operator; they pull in
no ML framework. Everything else imports torch/onnx/onnxruntime lazily.
"""

__all__: list[str] = []
