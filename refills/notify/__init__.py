"""Messages (SPEC §5): outbox (plan, create, claim, release and deliver Delivery rows), recipients
(who hears, through which channels), content (what each message says), acks (acknowledgement
tokens), calendar (the .ics events) and channels/ (e-mail, SMS, inbox)."""
