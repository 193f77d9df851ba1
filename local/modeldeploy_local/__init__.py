"""modeldeploy on one machine: the ``modeldeploy`` command and local mode (``up``, ``serve``)."""
