"""Display-building code for the console's pages: views stay thin and call these."""
