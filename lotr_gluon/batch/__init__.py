"""Batch prediction (what tools/predict.py runs): photos, folders, videos and a webcam through
a Predictor, annotated outputs, and a landmark log that a stopped run resumes from."""
