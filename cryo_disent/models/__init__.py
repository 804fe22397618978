"""The registry of models, their shared contract and layers, and the nine models of the papers."""
