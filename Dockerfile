# The image GitHub builds for the action (action.yml: runs.using docker, image Dockerfile).
# python:3.11-slim (Python 3.11.16 on Debian trixie), pinned by the digest of its multi-architecture index.
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first and only from the hash-locked file (runtime, local, azure, azure-v2 and github extras, plus
# the build backend): nothing unpinned gets in, and a code change does not reinstall them. Regenerate the lock with
# the pip-compile command written at its top.
COPY requirements.lock /app/requirements.lock
RUN pip install --no-cache-dir --require-hashes --no-deps -r /app/requirements.lock

# Then the code, installed without resolving anything again; `pip check` proves the lock was complete.
COPY pyproject.toml README.md /app/
COPY mlops_ci /app/mlops_ci
COPY entrypoint.py /app/entrypoint.py
RUN pip install --no-cache-dir --no-deps --no-build-isolation /app \
    && pip check

# No USER: GitHub runs Docker actions as root, which they need to write to GITHUB_WORKSPACE.
ENTRYPOINT ["python", "/app/entrypoint.py"]
