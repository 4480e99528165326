"""Pieces every provider client shares (authentication, paging)."""
