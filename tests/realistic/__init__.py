"""A realistic support mailbox with ground truth: generator, loader, poll harness and score (issue 9)."""
