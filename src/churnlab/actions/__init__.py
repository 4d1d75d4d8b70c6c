"""Actions: root cause, save class, playbooks, discounts and tasks."""
