"""The inference stage: model sources and their trust rules -> Predictor, labels, file input/output."""
