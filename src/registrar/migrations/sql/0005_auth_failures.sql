BEGIN;

-- Running upgrade 0004 -> 0005

CREATE TABLE auth_failures (
    address VARCHAR(64) NOT NULL,
    recent_failures TEXT NOT NULL,
    blocked_until FLOAT,
    updated_at FLOAT NOT NULL,
    CONSTRAINT pk_auth_failures PRIMARY KEY (address)
);

CREATE INDEX ix_auth_failures_updated_at ON auth_failures (updated_at);

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004';

COMMIT;
