BEGIN;

-- Running upgrade 0005 -> 0006

CREATE TABLE enrollment_events (
    id BIGSERIAL NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL,
    student_id BIGINT NOT NULL,
    course_id BIGINT NOT NULL,
    change VARCHAR(16) NOT NULL,
    cause VARCHAR(16) NOT NULL,
    request_id VARCHAR(128),
    key_id BIGINT,
    CONSTRAINT pk_enrollment_events PRIMARY KEY (id),
    CONSTRAINT ck_enrollment_events_change_known CHECK (change IN ('enrolled', 'dropped')),
    CONSTRAINT ck_enrollment_events_cause_known CHECK (cause IN ('api', 'student-deleted', 'waitlist', 'seed', 'import', 'migration'))
);

INSERT INTO enrollment_events (at, student_id, course_id, change, cause) SELECT enrolled_at, student_id, course_id, 'enrolled', 'migration' FROM student_courses ORDER BY enrolled_at, student_id, course_id;

CREATE INDEX ix_enrollment_events_student_id_id ON enrollment_events (student_id, id);

CREATE INDEX ix_enrollment_events_course_id_id ON enrollment_events (course_id, id);

CREATE INDEX ix_enrollment_events_course_id_student_id_at ON enrollment_events (course_id, student_id, at, id);

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0005';

COMMIT;
