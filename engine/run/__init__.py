"""Run: the poller (skip, budget, batches), the parse-ahead worker, the service loop and the auth monitor."""
