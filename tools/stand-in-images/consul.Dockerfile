# Stand-in for hashicorp/consul: the consul binary built from its Go module, behind an entrypoint
# that takes the official image's `agent ...` command.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY consul /usr/local/bin/consul
COPY consul-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN mkdir -p /consul/data /consul/config
ENTRYPOINT ["docker-entrypoint.sh"]
EXPOSE 8500 8600/udp
CMD ["agent", "-dev", "-client", "0.0.0.0"]
