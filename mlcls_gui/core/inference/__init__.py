"""Running a model file: Predictor (.pt and .onnx, one contract), export, Grad-CAM saliency."""
