# Stand-in for nats:<version>-alpine: the nats-server binary built from its Go module, behind an
# entrypoint with the official image's contract (arguments starting with "-" go to nats-server),
# and wget for the compose healthcheck as alpine's busybox has it.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY nats-server /usr/local/bin/nats-server
COPY nats-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
EXPOSE 4222 8222
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["nats-server", "--config", "/etc/nats/nats-server.conf"]
