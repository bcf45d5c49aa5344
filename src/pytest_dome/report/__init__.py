"""What people read: the review of a decision, the HTML reports, the SLO history."""
