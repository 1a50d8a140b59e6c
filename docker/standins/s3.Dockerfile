# Stand-in for MinIO where no registry answers: moto's standalone S3 server
# (moto[server], pinned by docker/constraints-cluster.txt) on the stand-in Python base,
# started with MinIO's own command line (`server /data --console-address :9001`) and
# answering `mc ready local` for the health check. Any access key is accepted; objects
# live in memory, so they last as long as the container.
# Build from the repository root: docker build -f docker/standins/s3.Dockerfile .
ARG PYTHON_IMAGE=cnn-ladder-standin/python:3.11-bookworm
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/moto/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
ARG PIP_INDEX_URL=https://pypi.org/simple
WORKDIR /opt/moto
COPY constraints.txt docker/constraints-cluster.txt ./
RUN python -m venv /opt/moto \
    && pip install --no-cache-dir -c constraints.txt -c constraints-cluster.txt pip setuptools \
    && pip install --no-cache-dir -c constraints.txt -c constraints-cluster.txt "moto[server]"
COPY docker/standins/minio.py /usr/local/bin/minio
COPY docker/standins/mc.py /usr/local/bin/mc
USER 1000:1000
EXPOSE 9000
ENTRYPOINT ["minio"]
CMD ["server", "/data"]
