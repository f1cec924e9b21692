"""stockformer.backtest"""
