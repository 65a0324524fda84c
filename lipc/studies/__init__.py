"""Studies built on the pipeline: benchmark libraries, training-run tracking, training, plots
and tables."""
