# Browser libraries for the pages (bpmn-js from npm), copied into api/static/vendor/.
FROM python:3.11-slim AS js
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY package.json package-lock.json ./
COPY scripts/vendor-js scripts/vendor-js
RUN mkdir -p api/static && bash scripts/vendor-js

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine engine
COPY api api
COPY --from=js /build/api/static/vendor api/static/vendor
COPY workers workers
COPY virta virta
COPY migrations migrations
COPY processes processes
COPY forms forms
RUN pip install --no-cache-dir .
ENV VIRTA_PROCESSES_DIR=/app/processes VIRTA_FORMS_DIR=/app/forms
EXPOSE 8000
CMD ["virta", "serve", "--host", "0.0.0.0", "--port", "8000"]
