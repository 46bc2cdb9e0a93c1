"""The refill rules, pure: no Django, no database, no clock of their own. Everything here
takes plain values and returns plain values, so each rule can be read and tested alone."""
