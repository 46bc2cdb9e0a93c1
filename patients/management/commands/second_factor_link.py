"""Print a one-time link with which a staff member sets up two-step log-in: how the first clinic
admin gets theirs (after that, admins send links from the clinic's staff page). Run it on the
server; whoever can run it can already reach the database."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from patients import security
from patients.models import User


class Command(BaseCommand):
    help = "Print (and e-mail) a one-time link to set up two-step log-in for one account."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No account has the e-mail {email}.")
        try:
            self.stdout.write(security.send_enrolment_link(user=user, by=None, clinic=None))
        except ValidationError as error:
            raise CommandError(error.messages[0]) from None
