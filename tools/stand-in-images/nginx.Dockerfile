# Stand-in for the official nginx image: Debian's nginx, and the same start-up contract:
# /etc/nginx/templates/*.template rendered by envsubst into /etc/nginx/conf.d/, logs to stdout,
# and the folders the official image has (/var/cache/nginx).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN rm -f /etc/nginx/sites-enabled/default \
    && mkdir -p /var/cache/nginx /etc/nginx/templates \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx-entrypoint.sh /docker-entrypoint.sh
ENTRYPOINT ["/docker-entrypoint.sh"]
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
