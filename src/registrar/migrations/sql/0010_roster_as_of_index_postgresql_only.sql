BEGIN;

-- Running upgrade 0009 -> 0010

UPDATE alembic_version SET version_num='0010' WHERE alembic_version.version_num = '0009';

COMMIT;
