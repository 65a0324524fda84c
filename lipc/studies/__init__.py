"""Studies built on the pipeline: benchmark libraries, training-run tracking, workers, training, plots and tables."""
