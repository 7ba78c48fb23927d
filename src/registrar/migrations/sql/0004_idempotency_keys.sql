BEGIN;

-- Running upgrade 0003 -> 0004

CREATE TABLE idempotency_keys (
    api_key_id BIGINT NOT NULL,
    idempotency_key VARCHAR(255) NOT NULL,
    request_method VARCHAR(8) NOT NULL,
    request_path VARCHAR(2048) NOT NULL,
    request_digest VARCHAR(64) NOT NULL,
    response_status INTEGER NOT NULL,
    response_content_type VARCHAR(64) NOT NULL,
    response_location VARCHAR(2048),
    response_body TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_idempotency_keys PRIMARY KEY (api_key_id, idempotency_key),
    CONSTRAINT fk_idempotency_keys_api_key_id_api_keys FOREIGN KEY(api_key_id) REFERENCES api_keys (id) ON DELETE CASCADE
);

CREATE INDEX ix_idempotency_keys_created_at ON idempotency_keys (created_at);

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003';

COMMIT;
