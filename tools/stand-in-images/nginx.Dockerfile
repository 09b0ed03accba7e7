# Stand-in for the official nginx image: Debian sid's nginx (1.30, which like the official 1.30
# resolves upstream servers itself), and the same start-up contract: /docker-entrypoint.d/*.envsh
# sourced, /etc/nginx/templates/*.template rendered by envsubst into /etc/nginx/conf.d/, logs to
# stdout, and the folders the official image has (/var/cache/nginx).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN rm -f /etc/nginx/sites-enabled/default \
    && mkdir -p /var/cache/nginx /etc/nginx/templates /docker-entrypoint.d \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx-entrypoint.sh /docker-entrypoint.sh
ENTRYPOINT ["/docker-entrypoint.sh"]
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
