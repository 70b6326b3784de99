"""Importers: public datasets and sellers' order exports (Amazon, Shopify, any CSV by column
mapping) turned into the raw data contract (``ml/contract.py``); shared parts in ``common``."""
