"""The lab: live rebalancing demos driven by virtual consumers and producers in this process."""
