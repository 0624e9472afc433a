"""The notifier: routes alert transitions to people by e-mail, SMS and push."""
