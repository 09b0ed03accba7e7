# Stand-in for python:3.11-slim: Debian's Python with the services' requirements preinstalled
# from wheels fetched on the host, so each service's `pip install -r requirements.txt` is satisfied
# offline. Built with --network none.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /tmp/wheels /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels
ENV PATH=/opt/venv/bin:$PATH
CMD ["python"]
