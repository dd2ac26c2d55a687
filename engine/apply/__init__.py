"""Apply: a Decision into one store transaction and outbox rows; quarantine, notices, SMTP delivery."""
