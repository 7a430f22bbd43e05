# The application image: API, worker and the one-shot migration all run `tanpuhui …` from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md settings.py worker.py alembic.ini ./
COPY api ./api
COPY activities ./activities
COPY cli ./cli
COPY domain ./domain
COPY store ./store
COPY workflows ./workflows
COPY web ./web
RUN pip install . \
    && useradd --system --create-home --uid 10001 tanpuhui \
    && mkdir -p /data && chown tanpuhui:tanpuhui /data

USER tanpuhui
ENV TANPUHUI_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
CMD ["tanpuhui", "api", "--host", "0.0.0.0", "--port", "8000"]
