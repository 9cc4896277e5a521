"""Value types: Hull notifications and messages, plans, Customer.io operations."""
