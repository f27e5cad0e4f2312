"""Models that use bkstorages through FileField and ImageField."""
