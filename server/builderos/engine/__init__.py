"""ShipMachine: durable, event-sourced pipeline runs."""
