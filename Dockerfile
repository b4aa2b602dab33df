FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md /app/
RUN mkdir -p /app/mlops_ci && touch /app/mlops_ci/__init__.py \
    && pip install --no-cache-dir "/app[local,azure,github]" \
    && pip uninstall -y mlops-ci

COPY mlops_ci /app/mlops_ci
COPY entrypoint.py /app/entrypoint.py
RUN pip install --no-cache-dir --no-deps /app

ENTRYPOINT ["python", "/app/entrypoint.py"]
