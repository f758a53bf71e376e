"""Console forms: parse what a user typed into the plain values brokercore services take."""
