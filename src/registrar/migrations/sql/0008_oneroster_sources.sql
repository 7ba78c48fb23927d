BEGIN;

-- Running upgrade 0007 -> 0008

CREATE TABLE oneroster_users (
    source VARCHAR(255) NOT NULL,
    sourced_id VARCHAR(255) NOT NULL,
    student_id BIGINT NOT NULL,
    modified TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_oneroster_users PRIMARY KEY (source, sourced_id),
    CONSTRAINT fk_oneroster_users_student_id_students FOREIGN KEY(student_id) REFERENCES students (id) ON DELETE CASCADE,
    CONSTRAINT uq_oneroster_users_student_id UNIQUE (student_id, source)
);

CREATE TABLE oneroster_classes (
    source VARCHAR(255) NOT NULL,
    sourced_id VARCHAR(255) NOT NULL,
    course_id BIGINT NOT NULL,
    modified TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_oneroster_classes PRIMARY KEY (source, sourced_id),
    CONSTRAINT fk_oneroster_classes_course_id_courses FOREIGN KEY(course_id) REFERENCES courses (id) ON DELETE CASCADE,
    CONSTRAINT uq_oneroster_classes_course_id UNIQUE (course_id, source)
);

CREATE TABLE oneroster_enrollments (
    source VARCHAR(255) NOT NULL,
    sourced_id VARCHAR(255) NOT NULL,
    student_id BIGINT NOT NULL,
    course_id BIGINT NOT NULL,
    modified TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_oneroster_enrollments PRIMARY KEY (source, sourced_id),
    CONSTRAINT fk_oneroster_enrollments_student_id_students FOREIGN KEY(student_id) REFERENCES students (id) ON DELETE CASCADE,
    CONSTRAINT fk_oneroster_enrollments_course_id_courses FOREIGN KEY(course_id) REFERENCES courses (id) ON DELETE CASCADE
);

CREATE INDEX ix_oneroster_enrollments_student_id ON oneroster_enrollments (student_id, course_id);

CREATE INDEX ix_oneroster_enrollments_course_id ON oneroster_enrollments (course_id);

UPDATE alembic_version SET version_num='0008' WHERE alembic_version.version_num = '0007';

COMMIT;
