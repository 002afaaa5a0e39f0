"""The holdout backtest: how good each account's predictions are, and the model choice."""
