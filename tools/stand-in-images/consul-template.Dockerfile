# Stand-in for hashicorp/consul-template: the binary built from its Go module, where the
# official image has it (/bin/consul-template).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY consul-template /bin/consul-template
ENTRYPOINT ["/bin/consul-template"]
