FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine engine
COPY api api
COPY workers workers
COPY virta virta
COPY migrations migrations
COPY processes processes
COPY forms forms
RUN pip install --no-cache-dir .
ENV VIRTA_PROCESSES_DIR=/app/processes VIRTA_FORMS_DIR=/app/forms
EXPOSE 8000
CMD ["virta", "serve", "--host", "0.0.0.0", "--port", "8000"]
