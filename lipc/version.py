"""lipc's version, in a module of its own so that every stage can stamp its reports with it
without importing the package facade (lipc/__init__), which imports every stage."""
__version__ = "0.1.0"
