FROM python:3.11-slim

WORKDIR /app
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1

COPY pyproject.toml README.md ./
COPY db ./db
COPY migrations ./migrations
COPY repair ./repair
COPY server ./server
COPY valuation ./valuation

# The CPU build of torch keeps the image small; drop the index to get CUDA.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir ".[demo]"

USER nobody
ENTRYPOINT ["mendb"]
CMD ["--help"]
