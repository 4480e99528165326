"""The provider toolkit: what every provider connector is built from (auth, paging, cleaning, languages)."""
