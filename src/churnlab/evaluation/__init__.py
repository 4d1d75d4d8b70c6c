"""Evaluation: survival metrics, the rolling-origin backtest, champion choice, health evaluation."""
