BEGIN;

-- Running upgrade 0002 -> 0003

CREATE TABLE api_keys (
    id BIGSERIAL NOT NULL,
    token_digest VARCHAR(64) NOT NULL,
    role VARCHAR(16) NOT NULL,
    name VARCHAR(200),
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    revoked_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_api_keys PRIMARY KEY (id),
    CONSTRAINT uq_api_keys_token_digest UNIQUE (token_digest),
    CONSTRAINT ck_api_keys_role_known CHECK (role IN ('admin', 'reader'))
);

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

COMMIT;
