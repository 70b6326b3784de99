"""Importers: public datasets turned into the raw data contract (``ml/contract.py``)."""
