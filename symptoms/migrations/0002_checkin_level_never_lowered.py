"""The database itself refuses to make a check-in's disposition less urgent (SPEC §6: a
disposition is never lowered afterwards). A CHECK constraint cannot compare a row with its old
self, so a trigger does it: on PostgreSQL (the real database) and on SQLite (the embedded run)."""

from django.db import migrations

# In parentheses: PL/pgSQL reads an IF condition up to the first THEN outside them.
RANK = "(CASE {level} WHEN 'emergency' THEN 0 WHEN 'call_clinic' THEN 1 ELSE 2 END)"

POSTGRES_CREATE = f"""
CREATE OR REPLACE FUNCTION symptoms_checkin_level_never_lowered() RETURNS trigger AS $$
BEGIN
  IF {RANK.format(level="NEW.level")} > {RANK.format(level="OLD.level")} THEN
    RAISE EXCEPTION 'a check-in''s disposition is never lowered';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER symptoms_checkin_level_never_lowered
  BEFORE UPDATE OF level ON symptoms_checkin
  FOR EACH ROW EXECUTE FUNCTION symptoms_checkin_level_never_lowered();
"""
POSTGRES_DROP = """
DROP TRIGGER IF EXISTS symptoms_checkin_level_never_lowered ON symptoms_checkin;
DROP FUNCTION IF EXISTS symptoms_checkin_level_never_lowered();
"""
SQLITE_CREATE = f"""
CREATE TRIGGER IF NOT EXISTS symptoms_checkin_level_never_lowered
  BEFORE UPDATE OF level ON symptoms_checkin
  WHEN {RANK.format(level="NEW.level")} > {RANK.format(level="OLD.level")}
  BEGIN SELECT RAISE(ABORT, 'a check-in''s disposition is never lowered'); END;
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS symptoms_checkin_level_never_lowered;"


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_CREATE)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_CREATE)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DROP)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [("symptoms", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
