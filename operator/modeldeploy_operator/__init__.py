"""The modeldeploy operator: reconciles ModelDeployments into Jobs, Deployments and autoscalers."""
