BEGIN;

-- Running upgrade 0006 -> 0007

ALTER TABLE courses ADD COLUMN waitlist_capacity INTEGER DEFAULT '0' NOT NULL;

ALTER TABLE courses ADD CONSTRAINT ck_courses_waitlist_capacity_range CHECK (waitlist_capacity BETWEEN 0 AND 1000);

ALTER TABLE courses ADD COLUMN waitlisted INTEGER DEFAULT '0' NOT NULL;

ALTER TABLE courses ADD CONSTRAINT ck_courses_waitlisted_not_negative CHECK (waitlisted >= 0);

CREATE TABLE waitlist_entries (
    id BIGSERIAL NOT NULL,
    student_id BIGINT NOT NULL,
    course_id BIGINT NOT NULL,
    joined_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_waitlist_entries PRIMARY KEY (id),
    CONSTRAINT uq_waitlist_entries_student_id UNIQUE (student_id, course_id),
    CONSTRAINT fk_waitlist_entries_student_id_students FOREIGN KEY(student_id) REFERENCES students (id) ON DELETE CASCADE,
    CONSTRAINT fk_waitlist_entries_course_id_courses FOREIGN KEY(course_id) REFERENCES courses (id) ON DELETE RESTRICT
);

CREATE INDEX ix_waitlist_entries_course_id_joined_at_id ON waitlist_entries (course_id, joined_at, id);

UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0006';

COMMIT;
